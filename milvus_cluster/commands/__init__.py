"""The commands as library entry points: label, assign, relabel, show, plot, ingest, demo."""
