"""/v1/accounts, /v1/users, /v1/qos, /v1/shares: associations (docs/accounting.md).

Reading is anyone's (a user sees their own associations; operators and
administrators all of them); changing is the administrators'. A limit set to null
in a PATCH is cleared (inherited again from the level above)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from corral.api.auth import user_caller
from corral.api.responses import Real
from corral.api.routes_jobs import CtlDep
from corral.model.assoc import AssocTree
from corral.services.identity import Caller

router = APIRouter(prefix="/v1")
CallerDep = Annotated[Caller, Depends(user_caller)]

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Limit = Annotated[int, Field(ge=0, le=2**31 - 1)]
Shares = Annotated[int, Field(ge=0, le=1_000_000_000)]
Line = Annotated[str, Field(max_length=256)]


# ---- answers (every route names its model: /openapi.json describes every answer) ----
class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class AccountOut(_Answer):
    name: str
    parent: str | None  # None: root
    shares: int
    description: str
    organization: str
    max_jobs: int | None  # None: inherited (unlimited at root)
    max_cpus: int | None
    max_gpus: int | None
    max_wall_s: int | None
    qos: list[str]
    default_qos: str | None
    depth: int  # 0: root


class UserOut(_Answer):
    name: str
    default_account: str


class AssocOut(_Answer):
    user: str
    account: str
    shares: int
    max_jobs: int | None
    max_cpus: int | None
    max_gpus: int | None
    max_wall_s: int | None
    qos: list[str]
    default_qos: str | None


class QosOut(_Answer):
    name: str
    description: str
    priority: Real
    max_wall_s: int | None
    max_jobs_per_user: int | None
    max_cpus_per_user: int | None


class Associations(_Answer):
    cluster: str
    enforced: bool  # whether submissions are held to the associations now
    accounts: list[AccountOut]
    users: list[UserOut]
    associations: list[AssocOut]
    qos: list[QosOut]


class ShareRow(_Answer):
    account: str
    user: str  # "": the account's own row
    depth: int
    raw_shares: Real
    norm_shares: Real
    raw_usage: Real  # decayed CPU-seconds
    effective_usage: Real
    fairshare: Real


class ShareList(_Answer):
    shares: list[ShareRow]


class Removed(_Answer):
    deleted: str
    account: str | None = None  # a user's association with this account only


class QosName(_Answer):
    qos: str


# ---- requests -------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def changes(self, *skip: str) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if k not in skip}


class _Limits(_Body):
    max_jobs: Limit | None = None
    max_cpus: Limit | None = None
    max_gpus: Limit | None = None
    max_wall_s: Limit | None = None
    qos: Annotated[list[Name], Field(max_length=100)] | None = None
    default_qos: Name | None = None


class AccountBody(_Limits):
    parent: Name | None = None
    shares: Shares | None = None
    description: Line | None = None
    organization: Line | None = None


class NewAccount(AccountBody):
    name: Name


class AssocBody(_Limits):
    shares: Shares | None = None


class NewUser(AssocBody):
    name: Name
    accounts: Annotated[list[Name], Field(min_length=1, max_length=1000)]
    default_account: Name | None = None


class UserChange(AssocBody):
    default_account: Name | None = None
    account: Name | None = None  # change only the association with this account


class QosBody(_Body):
    description: Line | None = None
    priority: Shares | None = None
    max_wall_s: Limit | None = None
    max_jobs_per_user: Limit | None = None
    max_cpus_per_user: Limit | None = None


class NewQos(QosBody):
    name: Name


def _given(changes: dict[str, Any]) -> dict[str, Any]:
    """Drop nulls where null means "not given" (texts, shares, lists)."""
    keep_null = {"max_jobs", "max_cpus", "max_gpus", "max_wall_s", "default_qos",
                 "max_jobs_per_user", "max_cpus_per_user"}
    return {k: v for k, v in changes.items() if v is not None or k in keep_null}


Users = Annotated[list[str] | None, Query(alias="user", max_length=1000)]
Accounts = Annotated[list[str] | None, Query(alias="account", max_length=1000)]


@router.get("/accounts", response_model=Associations)
async def show(ctl: CtlDep, caller: CallerDep, user: Users = None,
               account: Accounts = None) -> dict[str, Any]:
    """Accounts, users, associations and QOS; `user`/`account` narrow them."""
    return ctl.assoc.view(caller, users=user or (), accounts=account or ())


@router.get("/shares", response_model=ShareList)
async def shares(ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    """The account tree with shares, decayed usage (CPU-seconds) and fair-share factors."""
    return {"shares": ctl.assoc.share_view(caller)}


@router.post("/accounts", status_code=201, response_model=Associations)
async def add_account(body: NewAccount, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    qos = ctl.assoc.config_qos()
    changes = _given(body.changes("name"))
    await ctl.assoc.change(caller, f"add account {body.name}",
                           lambda t: t.add_account(body.name, changes, qos))
    return ctl.assoc.view(caller, accounts=[body.name])


@router.patch("/accounts/{name}", response_model=Associations)
async def modify_account(name: str, body: AccountBody, ctl: CtlDep,
                         caller: CallerDep) -> dict[str, Any]:
    qos = ctl.assoc.config_qos()
    changes = _given(body.changes())
    await ctl.assoc.change(caller, f"modify account {name}",
                           lambda t: t.modify_account(name, changes, qos))
    return ctl.assoc.view(caller, accounts=[name])


@router.delete("/accounts/{name}", response_model=Removed)
async def delete_account(name: str, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    await ctl.assoc.change(caller, f"delete account {name}", lambda t: t.delete_account(name))
    return {"deleted": name}


@router.post("/users", status_code=201, response_model=Associations)
async def add_user(body: NewUser, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    qos = ctl.assoc.config_qos()
    changes = _given(body.changes("name", "accounts", "default_account"))
    await ctl.assoc.change(
        caller, f"add user {body.name}",
        lambda t: t.add_user(body.name, list(dict.fromkeys(body.accounts)), changes,
                             body.default_account, qos))
    return ctl.assoc.view(caller, users=[body.name])


@router.patch("/users/{name}", response_model=Associations)
async def modify_user(name: str, body: UserChange, ctl: CtlDep,
                      caller: CallerDep) -> dict[str, Any]:
    qos = ctl.assoc.config_qos()
    changes = _given(body.changes("account"))
    await ctl.assoc.change(caller, f"modify user {name}",
                           lambda t: t.modify_user(name, changes, body.account, qos))
    return ctl.assoc.view(caller, users=[name])


@router.delete("/users/{name}", response_model=Removed)
async def delete_user(name: str, ctl: CtlDep, caller: CallerDep,
                      account: Annotated[str | None, Query(max_length=64)] = None
                      ) -> dict[str, Any]:
    """The user, or only their association with `account`."""
    def apply(t: AssocTree) -> AssocTree:
        return t.delete_assoc(name, account) if account else t.delete_user(name)
    await ctl.assoc.change(caller, f"delete user {name}"
                           + (f" from account {account}" if account else ""), apply)
    return {"deleted": name, "account": account}


@router.post("/qos", status_code=201, response_model=QosName)
async def add_qos(body: NewQos, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    qos = ctl.assoc.config_qos()
    changes = _given(body.changes("name"))
    await ctl.assoc.change(caller, f"add qos {body.name}",
                           lambda t: t.add_qos(body.name, changes, qos))
    return {"qos": body.name}


@router.patch("/qos/{name}", response_model=QosName)
async def modify_qos(name: str, body: QosBody, ctl: CtlDep, caller: CallerDep
                     ) -> dict[str, Any]:
    changes = _given(body.changes())
    await ctl.assoc.change(caller, f"modify qos {name}", lambda t: t.modify_qos(name, changes))
    return {"qos": name}


@router.delete("/qos/{name}", response_model=Removed)
async def delete_qos(name: str, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    await ctl.assoc.change(caller, f"delete qos {name}", lambda t: t.delete_qos(name))
    return {"deleted": name}
