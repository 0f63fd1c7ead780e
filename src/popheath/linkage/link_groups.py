"""Link outcomes of untraced social care events by ethnic group and IMD quintile.

Linkage errors fall unevenly: records of minority ethnic groups and of deprived areas carry more
missing and mismatched identifiers, so they link less often and less accurately, and analyses of
linked data then understate their use (Bohensky et al. 2010, BMC Med Res Methodol 10:29; Harron
et al. 2017, BMJ Open 7:e015366; Zhu et al. 2015, Int J Popul Data Sci). The report therefore
shows, per group, how many untraced events were linked and, where a truth file exists, precision,
recall and the evidence ceiling (the recall left after exact ties, which no comparison of the
identifiers can resolve) with recall as a share of it. Other evidence (a service starting at a
discharge, GP registration, one-to-one assignment) resolves some ties, so recall can pass the
ceiling.

A group is the true person's (the linked ``person`` table: the spine's ethnic category, else the
one their activity records, and the IMD decile of their LSOA) when the truth file names them, else
the record's own: its recorded ethnic category and the IMD decile (``ref_imd``) of its recorded
LSOA. Ethnic groups are the NHS Data Dictionary ETHNIC CATEGORY (2001 census) groups: A-C White,
D-G Mixed, H-L Asian or Asian British, M-P Black or Black British, R-S Other; Z (not stated), 99
(not known) and blanks are "Not known". IMD quintiles join deciles in pairs (1 = most deprived 20%).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from popheath import db
from popheath.linkage import accuracy

DIMENSIONS = ("all", "ethnic_group", "imd_quintile")
_ETHNIC_GROUP = """CASE
    WHEN {c} IN ('A', 'B', 'C') THEN 'White'
    WHEN {c} IN ('D', 'E', 'F', 'G') THEN 'Mixed'
    WHEN {c} IN ('H', 'J', 'K', 'L') THEN 'Asian or Asian British'
    WHEN {c} IN ('M', 'N', 'P') THEN 'Black or Black British'
    WHEN {c} IN ('R', 'S') THEN 'Other'
    ELSE 'Not known' END"""


def _ethnic_group(column: str) -> str:
    return _ETHNIC_GROUP.format(c=f"upper(trim({column}))")


def _imd_quintile(column: str) -> str:
    return f"coalesce(CAST(ceil({column} / 2.0) AS INTEGER)::VARCHAR, 'Not known')"


def by_group(
    con: duckdb.DuckDBPyConnection, truth_path: Path | None, threshold: float, tie_records: set[str]
) -> list[dict[str, Any]]:
    """One row per (dimension, group): untraced events, linked share and, with truth, accuracy and the ceiling.

    The first row (dimension ``all``) covers every untraced event.

    ``tie_records`` are the link records (``link_asc_input.unique_id``) in exact ties.
    """
    truth = (
        "SELECT asc_record_id(la_code, event_id) AS record_id, any_value(CAST(person_id AS VARCHAR)) AS person_id "
        "FROM read_parquet($p) GROUP BY 1"
        if truth_path is not None
        else "SELECT CAST(NULL AS VARCHAR) AS record_id, CAST(NULL AS VARCHAR) AS person_id WHERE false"
    )
    rows = db.execute(
        con,
        f"""
        WITH truth AS ({truth}),
        events AS (
            SELECT l.record_id, l.method, l.best_person_id, l.match_probability, t.person_id AS true_person,
                   s.unique_id IS NOT NULL AS in_spine,
                   coalesce(list_contains($ties, i.unique_id), false) AS in_tie,
                   {_ethnic_group("coalesce(p.ethnic_category, e.ethnic_category)")} AS ethnic_group,
                   {_imd_quintile("coalesce(p.imd_decile, d.imd_decile)")} AS imd_quintile
            FROM link_asc_event_links AS l
            JOIN link_asc_events AS e ON e.record_id = l.record_id
            LEFT JOIN (SELECT DISTINCT client_key, unique_id FROM link_asc_input WHERE role = 'link') AS i
                ON i.client_key = l.client_key
            LEFT JOIN truth AS t ON t.record_id = l.record_id
            LEFT JOIN link_spine_input AS s ON s.unique_id = t.person_id
            LEFT JOIN person AS p ON p.person_key = t.person_id
            LEFT JOIN ref_imd AS d ON d.lsoa_code = upper(trim(e.lsoa_code))
            WHERE l.token IS NULL
        )
        SELECT dimension, grp, list(best_person_id), list(match_probability), list(true_person), list(in_spine),
               list(in_tie), count(*) FILTER (WHERE method <> 'unlinked')
        FROM (
            SELECT 'all' AS dimension, 'all untraced events' AS grp, * FROM events
            UNION ALL BY NAME
            SELECT 'ethnic_group' AS dimension, ethnic_group AS grp, * FROM events
            UNION ALL BY NAME
            SELECT 'imd_quintile' AS dimension, imd_quintile AS grp, * FROM events
        )
        GROUP BY dimension, grp ORDER BY list_position($dimensions, dimension), grp
        """,
        {"p": str(truth_path) if truth_path else None, "ties": sorted(tie_records), "dimensions": list(DIMENSIONS)},
    ).fetchall()
    result = []
    for dimension, group, best, probability, true_person, in_spine, in_tie, linked in rows:
        row: dict[str, Any] = {
            "dimension": dimension,
            "group": group,
            "events": len(best),
            "linked": int(linked),
            "linked_percent": 100.0 * linked / len(best) if best else None,
        }
        if truth_path is not None:
            scored = accuracy.accuracy(best, probability, true_person, in_spine, threshold)
            linkable = [tie for tie, spine in zip(in_tie, in_spine, strict=True) if spine]
            ceiling = 1.0 - sum(linkable) / len(linkable) if linkable else None
            row |= {
                "linkable": scored.linkable,
                "precision": scored.precision,
                "recall": scored.recall,
                "ceiling": ceiling,
                "recall_of_ceiling": scored.recall / ceiling if scored.recall is not None and ceiling else None,
            }
        result.append(row)
    return result
