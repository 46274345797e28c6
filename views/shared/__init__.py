"""What the pages share, by purpose (not pages themselves)."""
