"""Found and not found by department (sixteenth session): grouped on the department
alone, lines of no department at two libraries folded into one row, named after the
first library, with its code. Each library has its own "—" row."""

from emporter.stats.selectors import fold_outcomes


def _row(branch_id, name, code, found, not_found):
    return {
        "run__branch_id": branch_id,
        "run__branch__name": name,
        "run__branch__code": code,
        "department_id": None,
        "department__name": None,
        "department__code": None,
        "department_name": "",
        "department_code": "",
        "type": "book",
        "found": found,
        "not_found": not_found,
    }


def test_lines_without_a_department_stay_apart_per_library():
    rows = [_row(1, "Part-Dieu", "PDI", 5, 1), _row(2, "Croix-Rousse", "CRX", 3, 4)]
    outcomes = fold_outcomes(rows, "department")
    assert sorted((o.branch, o.branch_code, o.found, o.not_found) for o in outcomes) == [
        ("Croix-Rousse", "CRX", 3, 4),
        ("Part-Dieu", "PDI", 5, 1),
    ]
