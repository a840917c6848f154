"""Assessment schemes (考核方案): the format, its validation, the default templates, versions and their lifecycle."""
