"""Property-based fuzzing of the Glasses Link Protocol: stateful model, oracles, corpus, runner."""
