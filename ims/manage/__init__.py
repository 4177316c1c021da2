"""Projects and what they own: API keys, sources, destinations, webhook endpoints.

Every function takes the project id it acts for and scopes every query by it:
another project's object is simply not found.
"""
