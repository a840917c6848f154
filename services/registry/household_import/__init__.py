"""household_import"""
