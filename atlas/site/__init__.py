"""The static site and reports: data model, rendering, charts, media, serving."""
