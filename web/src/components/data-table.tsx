// A table that sorts and filters, as Nomad's and Portainer's lists do: a labelled filter box matching any
// column's text, and column headers that are buttons (aria-sort says the order to assistive technology).
import type { ComponentChildren } from "preact";
import { useId, useMemo, useState } from "preact/hooks";

export interface Column<T> {
  id: string;
  label: string;
  /** What the column sorts and filters by. */
  value: (row: T) => string | number | null;
  /** How the cell shows (the value as text by default). */
  render?: (row: T) => ComponentChildren;
  numeric?: boolean;
  /** Not sortable (an actions column). */
  unsorted?: boolean;
}

interface TableProps<T> {
  /** Names the table (its caption) and its filter box. */
  label: string;
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string;
  initialSort?: { column: string; descending?: boolean };
  empty?: ComponentChildren;
  /** Controls beside the filter box (a namespace picker). */
  toolbar?: ComponentChildren;
  filterable?: boolean;
}

function compare(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

export function DataTable<T>(props: TableProps<T>) {
  const { columns, rows } = props;
  const [filter, setFilter] = useState("");
  const [sort, setSort] = useState(props.initialSort ?? { column: columns[0]?.id ?? "", descending: false });
  const filterId = useId();

  const shown = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const matching = needle === "" ? rows : rows.filter((r) => columns.some((c) => String(c.value(r) ?? "").toLowerCase().includes(needle)));
    const column = columns.find((c) => c.id === sort.column);
    if (!column || column.unsorted) return matching;
    const sorted = [...matching].sort((a, b) => compare(column.value(a), column.value(b)));
    return sort.descending ? sorted.reverse() : sorted;
  }, [rows, columns, filter, sort]);

  return (
    <div class="table-block">
      {props.filterable === false && !props.toolbar ? null : (
        <div class="toolbar">
          {props.filterable === false ? null : (
            <span class="field">
              <label for={filterId}>Filter {props.label.toLowerCase()}</label>
              <input id={filterId} type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} placeholder="any column" />
            </span>
          )}
          {props.toolbar}
          <span class="muted count" aria-live="polite">
            {shown.length === rows.length ? `${rows.length} shown` : `${shown.length} of ${rows.length} shown`}
          </span>
        </div>
      )}
      <div class="table-scroll">
        <table>
          <caption class="visually-hidden">{props.label}</caption>
          <thead>
            <tr>
              {columns.map((c) => {
                const active = sort.column === c.id;
                return (
                  <th key={c.id} scope="col" class={c.numeric ? "num" : undefined} aria-sort={active ? (sort.descending ? "descending" : "ascending") : c.unsorted ? undefined : "none"}>
                    {c.unsorted ? (
                      c.label
                    ) : (
                      <button type="button" class="sort" onClick={() => setSort({ column: c.id, descending: active ? !sort.descending : false })}>
                        {c.label}
                        <span aria-hidden="true" class="sort-mark">
                          {active ? (sort.descending ? " ▼" : " ▲") : ""}
                        </span>
                      </button>
                    )}
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {shown.length === 0 ? (
              <tr>
                <td colSpan={columns.length} class="empty">
                  {rows.length === 0 ? (props.empty ?? "Nothing here yet.") : "Nothing matches the filter."}
                </td>
              </tr>
            ) : (
              shown.map((r) => (
                <tr key={props.rowKey(r)}>
                  {columns.map((c) => (
                    <td key={c.id} class={c.numeric ? "num" : undefined}>
                      {c.render ? c.render(r) : (c.value(r) ?? "-")}
                    </td>
                  ))}
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
