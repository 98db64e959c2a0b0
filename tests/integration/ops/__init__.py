"""Operations: deploy/prometheus and deploy/grafana against real processes (docs/operations.md)."""
