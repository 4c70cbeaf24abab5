"""The Train pane (F3): the runs table, live curves, controls, and the new-run form."""
