"""Reports: plots now; JSON, Markdown and HTML reports with the bench."""
