"""Virtual CPS and Vitale smart cards, served to any PC/SC client through pcscd's vpcd driver, or in process.

* ``cps.CpsCard`` / ``vitale.VitaleCard``: the card operating systems (APDU in, APDU out), on ``iso7816.CardOS``;
* ``vpicc.VpcdLink``: plugs a card into a vpcd slot (reader ``Virtual PCD 00 0n``) over vpcd's socket protocol;
  ``bay.CardBay``: the cards a process keeps inserted, with the state files ``cards list/remove`` read;
* ``transport.InProcessReader``: the same cards without pcscd, behind pyscard's connection calls;
* ``client``: the reader side (pyscard): ``CpsClient`` (holder, certificates, PIN, signatures, ``signer()``
  for ``build_vihf``) and ``VitaleClient``;
* ``cli.cards_group``: ``segur-sandbox cards insert|list|remove``.
"""
from .cps import ATR_CPS3, ATR_CPS4, CpsCard
from .transport import InProcessReader
from .vitale import ATR_VITALE2, VitaleCard, VitaleData
from .vpicc import VpcdLink, VpcdUnavailable, reader_name

__all__ = ["ATR_CPS3", "ATR_CPS4", "ATR_VITALE2", "CpsCard", "InProcessReader", "VitaleCard", "VitaleData",
           "VpcdLink", "VpcdUnavailable", "reader_name"]
