"""The partners' pages (DESIGN §11): links, the figures a page shows, and its rendering."""
