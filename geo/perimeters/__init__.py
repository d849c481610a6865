"""QPV perimeters: street lists, street names, address matching, perimeter rules, lookup.

Modules
-------
streetlist
    Parse the street lists of the decrees (« rue de Verdun jusqu'au n° 38 ») into rules.
streetnames
    Normalise French street and commune names into comparable keys.
addressmatch
    Match addresses and street names against the BAN and the street layer.
rules
    Compile street rules into polygons, evaluate them on addresses, write them back.
lookup
    Say whether an address or a point lies in a QPV, by polygon or by rule.
"""
