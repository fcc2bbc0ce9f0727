"""API views: thin — parse, authorise through the access layer, call a service or selector, render."""
