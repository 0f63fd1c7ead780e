"""Who the year's planning population includes and excludes, and why (before disclosure control)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from popheath.capitation import disclosure
from popheath.capitation.costing import FinancialYear
from popheath.config import Settings


def population_accounting(con: duckdb.DuckDBPyConnection, settings: Settings, fy: FinancialYear) -> pd.DataFrame:
    """People, person-years and cost by inclusion status, with each status's dominance share.

    Type 1 objections are counted from ``person`` (never costed). The share of each status's cost held
    by its ``dominance_n`` costliest people (``_dominance_share``) feeds the dominance rule of
    :func:`popheath.capitation.disclosure.protect`.
    """
    people = con.execute(
        """
        SELECT CASE WHEN national_data_opt_out THEN 'excluded: national data opt-out'
                    WHEN out_of_area AND NOT $include_out_of_area THEN 'reported separately: out of area'
                    WHEN out_of_area THEN 'included: out of area'
                    ELSE 'included: registered population' END AS status,
               person_years, cost_total
        FROM cap_person_year WHERE financial_year = $year AND person_years > 0
        """,
        {"year": fy.year, "include_out_of_area": settings.capitation.include_out_of_area},
    ).df()
    objections = con.execute(
        """
        SELECT count(*) FROM person
        WHERE type1_opt_out AND coalesce(in_population, FALSE)
          AND coalesce(registration_start, $year_start) <= $year_end
          AND coalesce(registration_end, $year_end) >= $year_start
          AND coalesce(date_of_death, $year_end) >= $year_start
        """,
        {"year_start": fy.start, "year_end": fy.end},
    ).fetchone()
    table = people.groupby("status", as_index=False).agg(
        people=("status", "size"), person_years=("person_years", "sum"), total_cost=("cost_total", "sum")
    )
    share = disclosure.dominance_share(people, ["status"], "cost_total", settings.capitation.dominance_n)
    table[disclosure.DOMINANCE] = share.reindex(table["status"].to_numpy()).to_numpy()
    type1 = pd.DataFrame(
        {
            "status": ["excluded: type 1 objection"],
            "people": [int(objections[0]) if objections else 0],
            "person_years": [np.nan],
            "total_cost": [np.nan],
            disclosure.DOMINANCE: [0.0],
        }
    )
    return pd.concat([table, type1], ignore_index=True).sort_values("status", ignore_index=True)
