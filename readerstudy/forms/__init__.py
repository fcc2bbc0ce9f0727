"""Every form of the web pages, one module per area (studies, reader, analysis, imports, interchange)."""
