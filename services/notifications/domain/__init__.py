"""What citizens are told and how it reaches them: pure, synchronous, no I/O."""
