"""The raw data contract: the tables of the `raw` schema, their columns, types and meaning."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column of a raw table."""

    name: str
    sql_type: str
    required: bool
    meaning: str


RAW_TABLES: dict[str, tuple[Column, ...]] = {
    "customers": (
        Column("customer_id", "VARCHAR", True, "The shop's customer key."),
        Column("signed_up_at", "TIMESTAMP", False, "When the customer created an account."),
        Column("country", "VARCHAR", False, "Country of the customer's address."),
        Column("region", "VARCHAR", False, "Sales region the country belongs to."),
        Column("acquisition_channel", "VARCHAR", False, "Marketing channel that brought the customer."),
        Column("age_band", "VARCHAR", False, "Self-declared age band, e.g. 25-34."),
    ),
    "products": (
        Column("product_id", "VARCHAR", True, "The shop's product key (SKU)."),
        Column("product_name", "VARCHAR", False, "Display name."),
        Column("category", "VARCHAR", False, "Catalogue category."),
        Column("list_price", "DOUBLE", False, "Current list price per unit."),
        Column("unit_cost", "DOUBLE", False, "Cost of goods per unit, for margins."),
    ),
    "orders": (
        Column("order_id", "VARCHAR", True, "The shop's order key."),
        Column("customer_id", "VARCHAR", True, "Who placed the order."),
        Column("ordered_at", "TIMESTAMP", True, "When the order was placed."),
        Column("amount", "DOUBLE", True, "Order total charged: sum of lines minus discounts."),
        Column("status", "VARCHAR", False, "completed or cancelled; missing means completed."),
        Column(
            "discount_amount",
            "DOUBLE",
            False,
            "The order's whole discount, its lines' discounts included (amount = lines - discount); only "
            "the part beyond the lines' discounts lowers their revenue. Missing means none.",
        ),
        Column("sales_channel", "VARCHAR", False, "Where the order was placed: web or app."),
    ),
    "order_items": (
        Column("order_id", "VARCHAR", True, "The order this line belongs to."),
        Column("line_number", "INTEGER", True, "Position of the line in the order, from 1."),
        Column("product_id", "VARCHAR", True, "What was bought."),
        Column("quantity", "INTEGER", True, "Units bought."),
        Column("unit_price", "DOUBLE", True, "Price charged per unit before discount."),
        Column("discount_amount", "DOUBLE", False, "Discount granted on this line."),
        Column("returned_quantity", "INTEGER", False, "Units later returned (0 when none)."),
    ),
    "events": (
        Column("event_id", "VARCHAR", True, "The event key."),
        Column("session_id", "VARCHAR", True, "The browsing session the event belongs to."),
        Column("customer_id", "VARCHAR", False, "Logged-in customer; empty for anonymous visitors."),
        Column("event_type", "VARCHAR", True, "page_view, product_view, add_to_cart, checkout or purchase."),
        Column("event_at", "TIMESTAMP", True, "When the event happened."),
        Column("product_id", "VARCHAR", False, "Product concerned, for product events."),
    ),
}

# The key of each raw table: a row whose key repeats in its file or was loaded before is rejected.
KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "products": ("product_id",),
    "orders": ("order_id",),
    "order_items": ("order_id", "line_number"),
    "events": ("event_id",),
}

# Columns the loader adds to every raw table: which file a row came from, when it was loaded, and when a newer
# version of its key replaced it (null while the row is its key's latest version, the one staging keeps).
LINEAGE_COLUMNS: tuple[Column, ...] = (
    Column("_source_file", "VARCHAR", True, "Name of the file the row was loaded from."),
    Column("_loaded_at", "TIMESTAMP", True, "When the load that brought the row committed."),
    Column(
        "_replaced_at",
        "TIMESTAMP",
        False,
        "When a newer version of the row's key was loaded (`_loaded_at` of that load); empty while the row "
        "is its key's latest version.",
    ),
)


def column_names(table: str) -> list[str]:
    """Return the contract's column names of a raw table, in order."""
    return [column.name for column in RAW_TABLES[table]]


# raw._rejects: every input row that was not loaded, with the reason; rows read = loaded + rejected per file.
REJECT_COLUMNS: tuple[Column, ...] = (
    Column("file_name", "VARCHAR", True, "Name of the file the row came from."),
    Column("table_name", "VARCHAR", True, "Raw table the row was meant for."),
    Column("row_number", "BIGINT", True, "Position of the row among the file's data rows, from 1."),
    Column("raw_values", "VARCHAR", True, "The row as the file held it: a JSON object of its columns."),
    Column("reason", "VARCHAR", True, "Why the row was not loaded (see docs/data-contract.md)."),
    Column("rejected_at", "TIMESTAMP", True, "When the load that rejected the row committed (UTC)."),
    Column("sha256", "VARCHAR", True, "Content hash of the file, as in raw._file_loads."),
    Column(
        "order_id",
        "VARCHAR",
        False,
        "The order the row was part of (orders, order lines), as read; empty when it had none or a malformed "
        "line. An order line whose order was rejected is rejected in its turn, naming it so.",
    ),
)

# raw._file_loads: one row per file loaded; content logged for a table is never loaded into it again.
FILE_LOAD_COLUMNS: tuple[Column, ...] = (
    Column("file_name", "VARCHAR", True, "Name of the loaded file."),
    Column("table_name", "VARCHAR", True, "Raw table the file was loaded into (order_items for a preset)."),
    Column("sha256", "VARCHAR", True, "Content hash of the file: the same content is never loaded twice."),
    Column("rows_loaded", "BIGINT", True, "Rows appended to the table."),
    Column("loaded_at", "TIMESTAMP", True, "When the load committed (UTC)."),
    Column("rows_read", "BIGINT", False, "Data rows in the file; rows_read = rows_loaded + rows_rejected."),
    Column("rows_rejected", "BIGINT", False, "Rows written to raw._rejects instead."),
)
