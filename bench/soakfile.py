"""The soak's users (bench/soak.py): the load mix of bench/locustfile.py, plus people who collide
on the same records: every user of an account edits, deletes, restores and purges from one
small shared set of its contacts, restores several entries at once, and admins now and then
empty the bin. Losing a race is an ordinary answer here (404 for a record someone else deleted
or restored first, 409 for a restore refused by a rule), never a 5xx or a half-done record:
``check_integrity`` judges the data afterwards.

Run with the class name, so the load's own user class stays out: ``locust -f soakfile.py
SoakUser``."""

from locust import task
from locustfile import CONFIG, CrmUser

HOT = 30  # contacts per account that everyone works on at once


class SoakUser(CrmUser):
    restore_ok = (200, 404)  # the load's restore of what this user deleted: a race lost is 404

    def on_start(self):
        super().on_start()
        self.hot = CONFIG["contacts"][str(self.account)][:HOT]

    def _entries(self) -> list[int]:
        found = self._call(
            "GET",
            "/api/v1/recyclebin/?entity_type=contact&page_size=20",
            "GET /api/v1/recyclebin/?entity_type=",
        )
        return [entry["id"] for entry in found.json()["results"]] if found is not None else []

    @task(4)
    def hot_update(self):
        contact = self.rng.choice(self.hot)
        self._call(
            "PATCH",
            f"/api/v1/contacts/{contact}/",
            "PATCH /api/v1/contacts/{hot}/",
            json_body={"position": f"Soak {self.rng.randint(1, 999)}"},
            ok=(200, 404),
        )

    @task(3)
    def hot_delete(self):
        contact = self.rng.choice(self.hot)
        self._call(
            "DELETE",
            f"/api/v1/contacts/{contact}/",
            "DELETE /api/v1/contacts/{hot}/",
            ok=(204, 404),
        )

    @task(3)
    def hot_restore(self):
        if CONFIG["can_restore"] and (entries := self._entries()):
            self._call(
                "POST",
                f"/api/v1/recyclebin/{self.rng.choice(entries)}/restore/",
                "POST /api/v1/recyclebin/{hot}/restore/",
                ok=(200, 404, 409),
            )

    @task(2)
    def bulk_restore(self):
        if CONFIG["can_restore"] and (entries := self._entries()):
            self._call(
                "POST",
                "/api/v1/recyclebin/restore/",
                "POST /api/v1/recyclebin/restore/ (bulk)",
                json_body={"ids": self.rng.sample(entries, min(5, len(entries)))},
                ok=(200, 404, 409),
            )

    @task(1)
    def purge(self):
        if self.role == "admin" and (entries := self._entries()):
            self._call(
                "POST",
                "/api/v1/recyclebin/purge/",
                "POST /api/v1/recyclebin/purge/",
                json_body={"ids": [self.rng.choice(entries)]},
                ok=(200, 404),
            )

    @task(1)
    def empty_bin(self):
        if self.role == "admin" and self.rng.random() < 0.1:
            self._call("POST", "/api/v1/recyclebin/empty/", "POST /api/v1/recyclebin/empty/")
