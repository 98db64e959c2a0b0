"""Static dashboard assets served by the collector."""
