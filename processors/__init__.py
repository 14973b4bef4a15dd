"""coffea processors: thin compositions of the hh4b library, options as __init__ kwargs."""
