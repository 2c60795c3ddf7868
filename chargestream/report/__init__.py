"""`chargestream report`: one self-contained HTML file of plots and tables, rendered from ClickHouse."""
