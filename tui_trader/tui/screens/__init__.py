"""The dashboard's screens: one module per screen, plus the shared base and the modal."""
