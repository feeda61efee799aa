"""Views outside the admin: the near-real-time hooks vendors call."""
