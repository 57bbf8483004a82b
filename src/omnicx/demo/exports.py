"""The files the store tills and the CRM export, with the mappings that describe them to omnicx."""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import IO

from omnicx.demo.stores import CRM_COLUMNS, POS_COLUMNS

POS_FILE = "store_pos_receipts.csv"
CRM_FILE = "crm_customers.csv"
POS_MAPPING_FILE = "store_pos_mapping.toml"
CRM_MAPPING_FILE = "crm_mapping.toml"

POS_MAPPING = """\
# How omnicx reads the store tills' receipt export (one row per receipt with a loyalty card).
type = { value = "track" }
event = { value = "Order Completed" }
messageId = { template = "pos-{receipt_id}" }
anonymousId = "loyalty_card"
timestamp = "occurred_at"

[properties]
order_id = "receipt_id"
store_id = "store_id"
store_name = "store_name"
city = "city"
country = "country"
total = { column = "total", type = "float" }
revenue = { column = "total", type = "float" }
currency = "currency"
item_count = { column = "item_count", type = "int" }
products = { column = "items", type = "json" }
payment_method = "payment_method"

[context.traits]
loyaltyCard = "loyalty_card"
phone = "customer_phone"
email = "customer_email"
"""

CRM_MAPPING = """\
# How omnicx reads the CRM's customer export (one row per customer the CRM knows).
type = { value = "identify" }
messageId = { template = "crm-{crm_id}" }
userId = "crm_id"
timestamp = "updated_at"

[traits]
firstName = "first_name"
lastName = "last_name"
email = "email"
phone = "phone"
loyaltyCard = "loyalty_card"
webCustomerId = "web_customer_id"
emailOptIn = { column = "email_opt_in", type = "bool" }
smsOptIn = { column = "sms_opt_in", type = "bool" }
memberSince = "member_since"

[traits.address]
street = "street"
postalCode = "postcode"
city = "city"
country = "country"
"""


class ExportFiles:
    """Writes the till and CRM exports row by row, with their mapping files beside them."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.pos_path = folder / POS_FILE
        self.crm_path = folder / CRM_FILE
        self.pos_mapping = folder / POS_MAPPING_FILE
        self.crm_mapping = folder / CRM_MAPPING_FILE
        self.pos_mapping.write_text(POS_MAPPING, encoding="utf-8")
        self.crm_mapping.write_text(CRM_MAPPING, encoding="utf-8")
        self._files: list[IO[str]] = []
        self.pos = self._writer(self.pos_path, POS_COLUMNS)
        self.crm = self._writer(self.crm_path, CRM_COLUMNS)
        self.pos_rows = 0
        self.crm_rows = 0

    def _writer(self, path: Path, columns: tuple[str, ...]) -> csv.DictWriter[str]:
        file = path.open("w", encoding="utf-8", newline="")
        self._files.append(file)
        writer = csv.DictWriter(file, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        return writer

    def write(self, pos_rows: list[dict[str, str]], crm_rows: list[dict[str, str]]) -> None:
        """Appends rows to the two exports."""
        self.pos.writerows(pos_rows)
        self.crm.writerows(crm_rows)
        self.pos_rows += len(pos_rows)
        self.crm_rows += len(crm_rows)

    def close(self) -> None:
        """Closes both files."""
        for file in self._files:
            file.close()

    def __enter__(self) -> ExportFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
