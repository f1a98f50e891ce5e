"""The kpis room: the shared KPI catalogue, its computation from rollups and ticket state,
baselines, period comparisons, consistency across locations and teams, and OKRs."""
