"""Small, obviously correct pure-Python twins of tokfree's fast paths, used as test oracles.

They follow the specifications literally (recount everything every step) and are slow on purpose:
never use them for real work.
"""
