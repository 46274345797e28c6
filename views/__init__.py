"""Thin Streamlit pages, grouped by who uses them; app.py builds the menu from them."""
