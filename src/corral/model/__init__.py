"""The vocabulary of corral: ids, states, specs, records, events and errors.

Standard library only. Every other layer speaks in these terms.
"""
