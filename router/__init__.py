"""Agents, skills, waiting calls and the routing decision."""
