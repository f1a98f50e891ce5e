"""Analytics: pure numeric functions over arrays and frames; no database, no web, no other room."""
