"""identification"""
