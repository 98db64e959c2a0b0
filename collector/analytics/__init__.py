"""PES analytics for product teams (compare, trend, overview, health, funnel): pure functions.

Nothing here does I/O. `collector.queries` loads the bitmap rollups (`rows`) once per request and
`cube` turns them into numpy arrays that every analysis slices; numpy is imported by `cube` only,
so the stores can import `rows` without it.
"""
