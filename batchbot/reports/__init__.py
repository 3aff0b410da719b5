"""Spend queries -> rows -> table, JSON, CSV or HTML; export of answers.

Reads through `store`; sends nothing.
"""
