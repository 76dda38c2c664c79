"""Simulation: synthetic API demand replayed under each allocation policy, to choose one."""
