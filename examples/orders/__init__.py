"""An order service that publishes events and a worker that consumes them (README "Events")."""
