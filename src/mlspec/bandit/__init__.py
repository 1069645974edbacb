"""mlspec's bandit controller: policy (pure), the controller loop, and an offline simulator."""
