"""Who the year's planning population includes and excludes, and why (before disclosure control)."""

from __future__ import annotations

import duckdb
import pandas as pd

from popheath.capitation.costing import FinancialYear
from popheath.config import Settings


def population_accounting(con: duckdb.DuckDBPyConnection, settings: Settings, fy: FinancialYear) -> pd.DataFrame:
    """People by inclusion status; type 1 objections are counted from ``person`` (never costed)."""
    return con.execute(
        """
        SELECT CASE WHEN national_data_opt_out THEN 'excluded: national data opt-out'
                    WHEN out_of_area AND NOT $include_out_of_area THEN 'reported separately: out of area'
                    WHEN out_of_area THEN 'included: out of area'
                    ELSE 'included: registered population' END AS status,
               count(*) AS people, sum(person_years) AS person_years, sum(cost_total) AS total_cost
        FROM cap_person_year WHERE financial_year = $year AND person_years > 0
        GROUP BY ALL
        UNION ALL
        SELECT 'excluded: type 1 objection', count(*), NULL, NULL
        FROM person
        WHERE type1_opt_out AND coalesce(in_population, FALSE)
          AND coalesce(registration_start, $year_start) <= $year_end
          AND coalesce(registration_end, $year_end) >= $year_start
          AND coalesce(date_of_death, $year_end) >= $year_start
        ORDER BY 1
        """,
        {
            "year": fy.year,
            "year_start": fy.start,
            "year_end": fy.end,
            "include_out_of_area": settings.capitation.include_out_of_area,
        },
    ).df()
