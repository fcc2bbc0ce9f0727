"""What leaves the app as files: the tables, their formats, the one audited `export_file`, and the
readings import from other platforms."""
