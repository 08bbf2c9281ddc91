"""Hardware in the loop: bench descriptions and the real-radio medium (later issues)."""
