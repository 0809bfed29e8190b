"""Importing this module registers every job kind's handler."""
