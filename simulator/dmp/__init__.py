"""The DMP mock: transactions TD0.x–TD3.x on the real paths, with the DMP's own rules."""
