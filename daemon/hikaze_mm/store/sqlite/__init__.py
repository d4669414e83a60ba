"""The SQLite implementation of the store: one database object (one connection, one writer,
BEGIN IMMEDIATE transactions) shared by the classes that implement each interface, the numbered migrations, the
reversible text form of names that are not UTF-8, and the integrity checks run at start and by `verify`.
"""
