"""Many bench hosts through labgrid: each bench PC runs a labgrid exporter, one coordinator hands out places.

A place is one DUT with its console, instruments and radio. The harness reserves a place by tags
(board, SKU) or by name, acquires it, reads its resources' network endpoints into the bench file's
``lab`` fields, and releases it at the end, or (through a guard process) when the harness dies.
labgrid is the engine; glassbench adds the resources labgrid lacks (resources.py), the exporter
configuration of a bench PC (exporter.py) and the client side (place.py). docs/lab.md.
"""
