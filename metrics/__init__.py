"""Prometheus instruments, scrape-time collectors and the HTTP resources that serve them."""
