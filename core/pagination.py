"""Pages over big tables without counting them (issue #18).

`EstimatedPaginator` is Django's Paginator, except that when PostgreSQL's planner expects at
least `exact_below` rows (its estimate: pg_class.reltuples scaled to the table's current size,
and the filters' selectivity) it does not COUNT(*) them (a scan of 1,000,000 profiles or
10,000,000 events per page view) and says "about N" instead. Whether a next page exists comes
from the rows themselves (one row more than the page is read), so an estimate never hides the
last rows nor invents empty pages: the last page (the first one with no next) knows the exact
total, and a page number past the real end lands on the real last page. Smaller results are
counted exactly, as before.
"""

import json

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

EXACT_BELOW = 50_000


def planner_rows(queryset: QuerySet) -> int | None:
    """The planner's row estimate for `queryset` (no ordering, no slicing), or None."""
    query = queryset.order_by().query
    compiler = query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except Exception:  # noqa: BLE001 - an empty result set (EmptyResultSet) and the like: count instead
        return None
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class _PageWithNext(Page):
    """A page of an estimated result that read one row past its end: a next page exists."""

    def has_next(self) -> bool:
        return True

    @property
    def shown_pages(self) -> int:
        return max(self.paginator.num_pages, self.number + 1)


class EstimatedPaginator(Paginator):
    exact_below = EXACT_BELOW

    @cached_property
    def estimated(self) -> bool:
        """True when `count` is the planner's estimate, not a count."""
        if not isinstance(self.object_list, QuerySet):
            return False
        rows = planner_rows(self.object_list)
        if rows is None or rows < self.exact_below:
            return False
        self.__dict__["count"] = rows
        return True

    @cached_property
    def count(self) -> int:
        if self.estimated:
            return self.__dict__["count"]
        return super().count

    def _exact(self, count: int | None = None) -> None:
        """From now on the paginator knows the exact total (`count`, or counted)."""
        self.__dict__["estimated"] = False
        self.__dict__.pop("num_pages", None)
        self.__dict__["count"] = count if count is not None else self.object_list.count()

    def validate_number(self, number):
        if not self.estimated:
            return super().validate_number(number)
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from exc
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number  # no upper bound from an estimate: the rows say where the end is

    def page(self, number):
        if not self.estimated:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if len(rows) > self.per_page:
            return _PageWithNext(rows[: self.per_page], number, self)
        if rows or number == 1:
            self._exact(bottom + len(rows))  # the last page: the total is known
            return self._get_page(rows, number, self)
        self._exact()  # past the real end (the estimate was high): the real last page
        return super().page(self.num_pages)

    def get_page(self, number):
        try:
            number = self.validate_number(number)
        except PageNotAnInteger:
            number = 1
        except EmptyPage:
            number = 1 if self.estimated else self.num_pages
        return self.page(number)


class BigTableAdmin:
    """A ModelAdmin mixin for tables that grow by millions of rows (lots, ledger, codes, assignments):
    newest first by primary key (a backward index scan, where the model's own ordering would sort the
    whole table), `EstimatedPaginator` instead of a COUNT(*) per view, and no second count of the
    unfiltered table. Mix it in before `admin.ModelAdmin`."""

    ordering = ["-pk"]
    paginator = EstimatedPaginator
    show_full_result_count = False
