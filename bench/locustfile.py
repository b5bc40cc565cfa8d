"""The load scenario run by bench/load.py (see its docstring): users of several accounts mixing
CRUD, deletes, restores from the bin, history filters and bin browsing, through the API and
the browser pages. The accounts, users and tokens come from the JSON file named by
``LOAD_CONFIG``; what each user met beyond the ordinary goes to ``LOAD_REPORT`` at the end.

Expected, and not counted as errors, only for the account under rollback: a write answered
``503 maintenance`` with ``Retry-After`` while the rollback runs, and a ``404`` for a record
the rollback took away. Anything else that is not a success is an error."""

import collections
import itertools
import json
import os
import random
import re
import threading

from locust import FastHttpUser, between, events, task

CONFIG = json.loads(open(os.environ["LOAD_CONFIG"]).read())  # noqa: SIM115, PTH123
WORDS = ("Müller", "Schmidt", "Acme", "Lee", "Garcia", "Nguyen", "Rossi", "Kowalski")
_members = itertools.cycle(CONFIG["members"])
_lock = threading.Lock()
expected = collections.Counter()


def _member() -> dict:
    with _lock:
        return next(_members)


class CrmUser(FastHttpUser):
    wait_time = between(0.2, 1.0)
    # What a restore of an entry this user deleted may answer. The soak adds 404: there,
    # another user may have restored, purged or emptied it first.
    restore_ok: tuple[int, ...] = (200,)

    def on_start(self):
        member = _member()
        self.account = member["account"]
        self.role = member["role"]
        self.under_rollback = member["account"] == CONFIG["rollback_account"]
        self.headers = {"Authorization": f"Token {member['token']}"}
        self.mine: list[int] = []  # contacts this user created
        self.binned: list[int] = []  # bin entries of contacts this user deleted
        self.rng = random.Random()  # noqa: S311 - load, not security
        self.browser = self.role == "admin" and self._login(member["username"])

    def _login(self, username: str) -> bool:
        page = self.client.get("/login/", name="GET /login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content or b"")
        if token is None:
            return False
        answer = self.client.post(
            "/login/",
            data={
                "username": username,
                "password": CONFIG["password"],
                "csrfmiddlewaretoken": token.group(1).decode(),
            },
            headers={"Referer": f"{self.host}/login/"},
            name="POST /login/",
            allow_redirects=False,
        )
        return answer.status_code == 302

    # --- one request, judged ----------------------------------------------------------------

    def _call(self, method: str, path: str, name: str, json_body=None, ok=(200,), **kwargs):
        with self.client.request(
            method,
            path,
            name=name,
            json=json_body,
            headers=self.headers,
            catch_response=True,
            **kwargs,
        ) as response:
            status = response.status_code
            if status in ok:
                response.success()
                return response
            if self.under_rollback and status == 503:
                body = response.text or ""
                if '"maintenance"' in body and response.headers.get("Retry-After"):
                    expected["503 maintenance, account under rollback"] += 1
                    response.success()
                    return None
            if self.under_rollback and status == 404 and CONFIG_STATE.rollback_started():
                expected["404 after the rollback took the record away"] += 1
                response.success()
                return None
            response.failure(f"{status}: {(response.text or '')[:200]}")
            return None

    # --- the mix ------------------------------------------------------------------------------

    @task(10)
    def contacts_list(self):
        self._call("GET", "/api/v1/contacts/?page_size=50", "GET /api/v1/contacts/")

    @task(4)
    def contacts_search(self):
        word = self.rng.choice(WORDS)
        self._call("GET", f"/api/v1/contacts/?search={word}", "GET /api/v1/contacts/?search=")

    @task(4)
    def contact_detail(self):
        contact = self.rng.choice(self.mine or CONFIG["contacts"][str(self.account)])
        self._call(
            "GET", f"/api/v1/contacts/{contact}/", "GET /api/v1/contacts/{id}/", ok=(200, 404)
        )

    @task(5)
    def contact_create(self):
        body = {"first_name": self.rng.choice(WORDS), "last_name": f"Load {self.rng.random():.6f}"}
        response = self._call(
            "POST", "/api/v1/contacts/", "POST /api/v1/contacts/", json_body=body, ok=(201,)
        )
        if response is not None:
            self.mine.append(response.json()["id"])

    @task(3)
    def contact_update(self):
        if self.mine:
            contact = self.rng.choice(self.mine)
            self._call(
                "PATCH",
                f"/api/v1/contacts/{contact}/",
                "PATCH /api/v1/contacts/{id}/",
                json_body={"position": f"Updated {self.rng.randint(1, 999)}"},
            )

    @task(3)
    def contact_delete(self):
        if self.mine:
            contact = self.mine.pop()
            response = self._call(
                "DELETE", f"/api/v1/contacts/{contact}/", "DELETE /api/v1/contacts/{id}/", ok=(204,)
            )
            if response is not None:
                found = self._call(
                    "GET",
                    f"/api/v1/recyclebin/?entity_type=contact&entity_id={contact}",
                    "GET /api/v1/recyclebin/?entity_id=",
                )
                if found is not None and found.json()["results"]:
                    self.binned.append(found.json()["results"][0]["id"])

    @task(2)
    def bin_restore(self):
        if self.binned and CONFIG["can_restore"]:
            entry = self.binned.pop()
            self._call(
                "POST",
                f"/api/v1/recyclebin/{entry}/restore/",
                "POST /api/v1/recyclebin/{id}/restore/",
                ok=self.restore_ok,
            )

    @task(3)
    def history_deletions(self):
        self._call("GET", "/api/v1/history/?event_type=delete", "GET /api/v1/history/?event_type=")

    @task(3)
    def bin_browse(self):
        self._call("GET", "/api/v1/recyclebin/?page_size=50", "GET /api/v1/recyclebin/")

    @task(2)
    def pages(self):
        if self.browser:
            page = self.rng.choice(("/recyclebin/", "/history/?event_type=delete", "/contacts/"))
            with self.client.get(
                page, name=f"GET {page.split('?')[0]} (page)", catch_response=True
            ) as r:
                if r.status_code == 200:
                    r.success()
                else:
                    r.failure(f"{r.status_code}")


class _State:
    """Whether the rollback has started: the runner touches a file when it starts one."""

    def rollback_started(self) -> bool:
        return os.path.exists(CONFIG["rollback_flag"])  # noqa: PTH110


CONFIG_STATE = _State()


@events.quitting.add_listener
def _report(environment, **kwargs):
    with open(os.environ["LOAD_REPORT"], "w") as out:  # noqa: PTH123
        json.dump(dict(expected), out)
