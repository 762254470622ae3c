"""ISO Schematron bundles for ``segur-sandbox validate --schematron-bundle DIR``, run with SaxonC-HE (saxonche).

A bundle is a folder of ISO Schematron sources (``*.sch``) and/or stylesheets already compiled from them to
SVRL-producing XSLT (``*.xsl``, ``*.xslt``), as the "schematrons" folder of the ANS CI-SIS test kit ships them.
Only the folder's top level is scanned: fragments that the sources ``sch:include`` usually live in sub-folders
(a top-level ``.sch`` whose root is not ``sch:schema`` is skipped with a note). When ``X.sch`` and ``X.xsl`` sit
side by side the ``.xsl`` (the official compilation) is run and the ``.sch`` skipped, with a note.
Each stylesheet runs on every CDA document (and on the CDA documents an ITI-41 message carries); its SVRL is turned
into the engine's ``Finding``s:

* ``svrl:failed-assert`` is an error, unless its ``@role`` or ``@flag`` says ``warning``/``info``;
* ``svrl:successful-report`` is a warning, or ``info``/``error`` when its ``@role`` or ``@flag`` says so;
* the rule id is ``SCH:<file stem>:<key>``, the key being the assert/report ``@id``, else the id of the pattern it
  belongs to, else the 1-based position of that pattern in the SVRL; the message is the normalised
  ``svrl:text`` (plus the diagnostics it references), the location the SVRL ``@location``.

Where the Schematron to XSLT compiler comes from
-------------------------------------------------
We looked for one to ship: the saxonche wheel carries no Schematron stylesheet; SchXslt is not published on PyPI
(``schxslt`` has no distribution; ``pyschematron`` and ``acdh-xml-validator`` carry no XSLT); lxml ships Rick
Jelliffe's ISO skeleton, but only its XSLT 1.0 flavour (``iso_schematron_skeleton_for_xslt1.xsl``), which refuses
``queryBinding="xslt2"``, the binding of the bundles we target. The network is not reachable at run time. So this
module is a compiler of our own, in Python, for a clearly scoped subset of ISO Schematron (ISO/IEC 19757-3), the
one the CI-SIS bundles use; it emits an XSLT 3.0 stylesheet producing SVRL, run by SaxonC-HE:

* ``schema`` with ``queryBinding`` absent, ``xslt``/``xslt1``/``xpath`` (rules then run in XSLT backwards-compatible
  mode), ``xslt2``/``xslt3``/``xpath2``/``xpath3``/``xpath31``; anything else is refused;
* ``ns``, ``let`` (schema, phase and pattern level: evaluated on the document root; rule level: on the context
  node), ``title``, ``pattern``, ``rule`` (first matching rule of a pattern wins), ``assert``, ``report`` (``@id``,
  ``@role``, ``@flag``, ``@see``, ``@subject``, ``@diagnostics``), ``diagnostics``/``diagnostic``, and in messages
  ``value-of``, ``name``, ``emph``, ``dir``, ``span`` (foreign elements contribute their text);
* ``include`` (with an optional ``#id`` fragment) anywhere, resolved relative to the including file, recursively;
* abstract rules (in a pattern or a ``rules`` element) and ``extends rule="..."``, ``extends href="..."``;
* abstract patterns with ``is-a`` and ``param`` (``$name`` replaced in every attribute, as the ISO skeleton does);
* phases: the ``defaultPhase``'s active patterns, or every pattern when there is none or it is ``#ALL``;
* top-level ``xsl:key``, ``xsl:function``, ``xsl:include``, ``xsl:import`` of the schema are copied over.

Not supported: ``sch:param`` of the 2016 edition outside abstract patterns, ``properties``, ``@visit-each``,
phases other than the default one, query bindings other than XSLT/XPath. ``document()`` and ``doc()`` with
relative URIs resolve against the ``.sch`` file (the compiled stylesheet carries its ``xml:base``), so value-set
files next to the bundle are found.

Compiled stylesheets are cached, keyed by a hash of the compiler version and of every source file read (the
``.sch`` and what it includes), under ``$SEGUR_SANDBOX_SCHEMATRON_CACHE``, else
``$XDG_CACHE_HOME/segur-sandbox/schematron``, else ``~/.cache/segur-sandbox/schematron``; a cache that cannot be
written is simply not used. The cached ``.xsl`` is the one named in compile errors, to be inspected.
"""
from __future__ import annotations

import copy
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lxml import etree

from .artifacts import CdaDocument
from .rules.engine import Finding, Report, Rule, Severity, _walk

__all__ = ["Bundle", "CompiledSchematron", "SchematronError", "apply", "compile_schematron", "default_cache_dir",
           "load_bundle", "parse_svrl"]

SCH = "http://purl.oclc.org/dsdl/schematron"
SVRL = "http://purl.oclc.org/dsdl/svrl"
XSL = "http://www.w3.org/1999/XSL/Transform"
XS = "http://www.w3.org/2001/XMLSchema"
OWN = "urn:segur-sandbox:schematron"  # our helper functions in the compiled stylesheets
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

COMPILER_VERSION = "1"  # bump when the generated XSLT changes: it is part of the cache key
SCHEMATRON_SUFFIXES = (".sch",)
XSLT_SUFFIXES = (".xsl", ".xslt")
XSLT1_BINDINGS = {"xslt", "xslt1", "xpath", "exslt"}
XSLT2_BINDINGS = {"xslt2", "xslt3", "xpath2", "xpath3", "xpath31"}
RESERVED_PREFIXES = {"xsl": XSL, "svrl": SVRL, "xs": XS, "sbx": OWN}

_ERROR_WORDS = {"error", "fatal", "erreur"}
_WARNING_WORDS = {"warning", "warn", "avertissement", "attention"}
_INFO_WORDS = {"info", "information", "informational", "note", "notice"}


class SchematronError(Exception):
    """A bundle file that cannot be used: which file, and why (a compile or a run error)."""

    def __init__(self, path: Path | str | None, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path is not None else reason)


# ------------------------------------------------------------------------------------------------ Saxon
_PROCESSOR: Any = None


def _saxon() -> Any:
    """The process-wide SaxonC-HE processor (SaxonC does not like being started twice in one process)."""
    global _PROCESSOR
    if _PROCESSOR is None:
        try:
            from saxonche import PySaxonProcessor
        except ImportError as exc:  # pragma: no cover - saxonche is a declared dependency
            raise SchematronError(None, f"saxonche (SaxonC-HE) is needed to run schematron bundles: {exc}") from None
        _PROCESSOR = PySaxonProcessor(license=False)
    return _PROCESSOR


def _saxon_message(exc: BaseException) -> str:
    return re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__


@dataclass
class CompiledSchematron:
    """One bundle file ready to run: its source, the XSLT actually compiled, the Saxon executable."""

    source: Path
    xslt: Path | None  # the cached compiled stylesheet, the .xsl itself, or None when the cache was not writable
    executable: Any = field(repr=False)

    @property
    def stem(self) -> str:
        return self.source.stem

    def run(self, document: CdaDocument) -> list[Finding]:
        """The findings of this stylesheet on one CDA document."""
        processor = _saxon()
        try:
            node = processor.parse_xml(xml_text=etree.tostring(document.root, encoding="unicode"))
            executable = self.executable
            executable.set_global_context_item(xdm_item=node)
            output = executable.transform_to_string(xdm_node=node)
        except Exception as exc:  # saxonche raises PySaxonApiError (and sometimes plain RuntimeError)
            raise SchematronError(self.source, f"failed on {document.name}: {_saxon_message(exc)}") from None
        if not output:
            raise SchematronError(self.source, f"produced no output on {document.name}")
        try:
            return parse_svrl(output, self.stem)
        except SchematronError as exc:
            raise SchematronError(self.source, f"on {document.name}: {exc.reason}") from None


@dataclass
class Bundle:
    """A ``--schematron-bundle`` folder: the stylesheets to run and notes on what was skipped."""

    directory: Path
    schematrons: list[CompiledSchematron]
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ loading
def default_cache_dir() -> Path:
    explicit = os.environ.get("SEGUR_SANDBOX_SCHEMATRON_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "segur-sandbox" / "schematron"


def load_bundle(directory: Path, cache_dir: Path | None = None) -> Bundle:
    """Compile every ``.sch`` (through the cache) and every ``.xsl`` of the folder's top level with Saxon.

    Raises ``SchematronError`` for a missing folder, a folder with nothing to run and a file that does not compile.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SchematronError(directory, "no such directory" if not directory.exists() else "not a directory")
    files = sorted(p for p in directory.iterdir() if p.is_file()
                   and p.suffix.lower() in SCHEMATRON_SUFFIXES + XSLT_SUFFIXES)
    if not files:
        raise SchematronError(directory, "no .sch or .xsl file in this directory (sub-folders are not scanned)")
    cache = default_cache_dir() if cache_dir is None else Path(cache_dir)
    compiled_stems = {p.stem for p in files if p.suffix.lower() in XSLT_SUFFIXES}
    bundle = Bundle(directory, [])
    for path in files:
        if path.suffix.lower() in SCHEMATRON_SUFFIXES:
            if path.stem in compiled_stems:
                bundle.notes.append(f"{path}: not compiled, the pre-compiled {path.stem}.xsl beside it is run")
                continue
            root = _parse(path).getroot()
            if root.tag != f"{{{SCH}}}schema":
                if etree.QName(root).namespace == SCH:
                    bundle.notes.append(f"{path}: skipped, a schematron fragment (sch:{etree.QName(root).localname}),"
                                        " not a sch:schema")
                    continue
                raise SchematronError(path, f"the root element is {root.tag}, not an ISO schematron "
                                            f"{{{SCH}}}schema")
            bundle.schematrons.append(_compile_sch(path, cache))
        else:
            bundle.schematrons.append(_compile_xsl(path))
    if not bundle.schematrons:
        raise SchematronError(directory, "no schematron to run in this directory")
    return bundle


def _compile_xsl(path: Path) -> CompiledSchematron:
    try:
        executable = _saxon().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path.resolve()))
    except Exception as exc:
        raise SchematronError(path, f"the XSLT does not compile: {_saxon_message(exc)}") from None
    if executable is None:  # pragma: no cover - older saxonche returned None instead of raising
        raise SchematronError(path, "the XSLT does not compile")
    executable.set_save_xsl_message(True)  # keep xsl:message output off the terminal
    return CompiledSchematron(path, path, executable)


def _compile_sch(path: Path, cache: Path) -> CompiledSchematron:
    schema, sources = _assemble(path)
    digest = hashlib.sha256(COMPILER_VERSION.encode())
    for source_path, data in sources:
        digest.update(str(source_path).encode() + b"\0" + hashlib.sha256(data).digest())
    target = cache / f"{path.stem}-{digest.hexdigest()[:20]}.xsl"
    text: str | None = None
    if target.is_file():
        try:
            text = target.read_text(encoding="utf-8")
        except OSError:
            text = None
    if text is None:
        text = _generate(schema, path)
        try:
            cache.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, target)
        except OSError:
            target = None  # type: ignore[assignment]
    processor = _saxon().new_xslt30_processor()
    try:
        if target is not None:
            executable = processor.compile_stylesheet(stylesheet_file=str(target.resolve()))
        else:
            executable = processor.compile_stylesheet(stylesheet_text=text)
    except Exception as exc:
        where = f" (compiled XSLT: {target})" if target is not None else ""
        raise SchematronError(path, f"does not compile{where}: {_saxon_message(exc)}") from None
    if executable is None:  # pragma: no cover
        raise SchematronError(path, "does not compile")
    executable.set_save_xsl_message(True)
    return CompiledSchematron(path, target, executable)


def compile_schematron(path: Path) -> str:
    """The XSLT 3.0 stylesheet (text) our compiler makes of an ISO Schematron file (see the module docstring)."""
    schema, _ = _assemble(Path(path))
    return _generate(schema, Path(path))


# ------------------------------------------------------------------------------------------------ assembly
def _parse(path: Path) -> etree._ElementTree:
    parser = etree.XMLParser(no_network=True, remove_comments=True, remove_pis=True, resolve_entities=False)
    try:
        return etree.parse(str(path), parser)
    except OSError as exc:
        raise SchematronError(path, f"cannot be read: {exc}") from None
    except etree.XMLSyntaxError as exc:
        raise SchematronError(path, f"not well-formed XML: {exc}") from None


def _base_path(element: etree._Element, fallback: Path) -> Path:
    base = element.base
    if not base:
        return fallback
    if base.startswith("file:"):
        return Path(unquote(urlparse(base).path))
    return Path(base)


def _sch(local: str) -> str:
    return f"{{{SCH}}}{local}"


def _assemble(path: Path) -> tuple[etree._Element, list[tuple[Path, bytes]]]:
    """Parse, resolve includes, expand abstract patterns and abstract rules: a flat schema, and the files read."""
    path = path.resolve()
    sources: list[tuple[Path, bytes]] = [(path, path.read_bytes())]
    schema = _parse(path).getroot()
    if schema.tag != _sch("schema"):
        raise SchematronError(path, f"the root element is {schema.tag}, not {_sch('schema')}")
    _resolve_includes(schema, path, [path], sources)
    _expand_abstract_patterns(schema, path)
    _expand_abstract_rules(schema, path)
    return schema, sources


def _resolve_includes(element: etree._Element, path: Path, stack: list[Path],
                      sources: list[tuple[Path, bytes]]) -> None:
    references = [e for e in element.iter(_sch("include"), _sch("extends"))
                  if e.tag == _sch("include") or e.get("href")]
    for reference in references:
        href = (reference.get("href") or "").strip()
        if not href:
            raise SchematronError(path, "sch:include without @href")
        file_part, _, fragment = href.partition("#")
        here = _base_path(reference, path).parent
        target_path = (here / unquote(file_part)).resolve() if file_part else _base_path(reference, path)
        if target_path in stack:
            raise SchematronError(path, f"include cycle: {' -> '.join(str(p) for p in stack + [target_path])}")
        try:
            data = target_path.read_bytes()
        except OSError as exc:
            raise SchematronError(path, f"cannot include {href!r}: {exc.strerror or exc}") from None
        sources.append((target_path, data))
        target_root = _parse(target_path).getroot()
        target = target_root
        if fragment:
            found = target_root.xpath("descendant-or-self::*[@id = $id]", id=fragment)
            if not found:
                raise SchematronError(path, f"cannot include {href!r}: no element with id {fragment!r}")
            target = found[0]
        target = copy.deepcopy(target)
        target.set(XML_BASE, target_path.as_uri())
        _resolve_includes(target, target_path, stack + [target_path], sources)
        parent = reference.getparent()
        if reference.tag == _sch("extends"):
            if target.tag != _sch("rule"):
                raise SchematronError(path, f"extends href={href!r} must point to a sch:rule, not {target.tag}")
            _replace(reference, _with_base(list(target), target_path))
        elif target.tag == _sch("schema"):
            _replace(reference, _with_base([c for c in target if c.tag != _sch("title")], target_path))
        else:
            parent.replace(reference, target)


def _with_base(elements: list[etree._Element], path: Path) -> list[etree._Element]:
    for element in elements:
        if element.get(XML_BASE) is None:
            element.set(XML_BASE, path.as_uri())
    return elements


def _replace(element: etree._Element, replacements: Sequence[etree._Element]) -> None:
    parent = element.getparent()
    index = parent.index(element)
    tail = element.tail
    parent.remove(element)
    for offset, new in enumerate(replacements):
        parent.insert(index + offset, new)
    if replacements:
        replacements[-1].tail = tail


def _substitute(text: str, params: dict[str, str]) -> str:
    if not params:
        return text
    names = sorted(params, key=len, reverse=True)
    pattern = re.compile(r"\$(" + "|".join(re.escape(n) for n in names) + r")(?![\w.\-])")
    return pattern.sub(lambda m: params[m.group(1)], text)


def _expand_abstract_patterns(schema: etree._Element, path: Path) -> None:
    patterns = schema.findall(_sch("pattern"))
    abstract = {p.get("id"): p for p in patterns if p.get("abstract") == "true"}
    for pattern in patterns:
        is_a = pattern.get("is-a")
        if not is_a:
            continue
        model = abstract.get(is_a)
        if model is None:
            raise SchematronError(path, f"pattern {pattern.get('id') or '(no id)'} is-a {is_a!r}: no abstract "
                                        "pattern with that id")
        params = {p.get("name", ""): p.get("value", "") for p in pattern.findall(_sch("param"))}
        instance = copy.deepcopy(model)
        instance.set(XML_BASE, _base_path(model, path).as_uri())
        for attribute in ("abstract", "id"):
            instance.attrib.pop(attribute, None)
        if pattern.get("id"):
            instance.set("id", pattern.get("id"))
        for declared in instance.findall(_sch("param")):
            instance.remove(declared)
        for element in instance.iter():
            for name, value in element.attrib.items():
                if name != XML_BASE:
                    element.set(name, _substitute(value, params))
        instance.tail = pattern.tail
        schema.replace(pattern, instance)
    for model in abstract.values():
        schema.remove(model)


def _expand_abstract_rules(schema: etree._Element, path: Path) -> None:
    abstract: dict[str, etree._Element] = {}
    for rule in schema.iter(_sch("rule")):
        if rule.get("abstract") == "true":
            if not rule.get("id"):
                raise SchematronError(path, "an abstract sch:rule has no @id")
            abstract[rule.get("id")] = rule

    def expand(rule: etree._Element, chain: list[str]) -> None:
        for extends in rule.findall(_sch("extends")):
            name = extends.get("rule")
            if not name:
                raise SchematronError(path, "sch:extends without @rule or @href")
            if name in chain:
                raise SchematronError(path, f"extends cycle: {' -> '.join(chain + [name])}")
            model = abstract.get(name)
            if model is None:
                raise SchematronError(path, f"sch:extends rule={name!r}: no abstract rule with that id")
            body = copy.deepcopy(model)
            expand(body, chain + [name])
            _replace(extends, [c for c in body if c.tag in (_sch("let"), _sch("assert"), _sch("report"))])

    for rule in list(schema.iter(_sch("rule"))):
        if rule.get("abstract") != "true":
            expand(rule, [])
    for rule in abstract.values():
        rule.getparent().remove(rule)
    for container in schema.findall(_sch("rules")):
        schema.remove(container)


# ------------------------------------------------------------------------------------------------ generation
def _x(local: str) -> str:
    return f"{{{XSL}}}{local}"


def _avt_literal(text: str) -> str:
    """A literal for an attribute value template (the attributes of svrl:* result elements)."""
    return text.replace("{", "{{").replace("}", "}}")


def _xpath_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _generate(schema: etree._Element, path: Path) -> str:
    binding = (schema.get("queryBinding") or "xslt").strip().lower()
    if binding not in XSLT1_BINDINGS | XSLT2_BINDINGS:
        raise SchematronError(path, f"queryBinding {schema.get('queryBinding')!r} is not supported (use xslt2, "
                                    "xslt3 or xslt)")
    backwards = binding in XSLT1_BINDINGS

    namespaces: dict[str, str] = {}
    for ns in schema.iter(_sch("ns")):
        prefix, uri = ns.get("prefix"), ns.get("uri")
        if not prefix or uri is None:
            raise SchematronError(path, "sch:ns needs @prefix and @uri")
        if prefix in RESERVED_PREFIXES and RESERVED_PREFIXES[prefix] != uri:
            raise SchematronError(path, f"sch:ns prefix {prefix!r} is reserved for {RESERVED_PREFIXES[prefix]}")
        if namespaces.get(prefix, uri) != uri:
            raise SchematronError(path, f"sch:ns prefix {prefix!r} is bound to two URIs")
        namespaces[prefix] = uri
    nsmap: dict[str | None, str] = {p: u for p, u in (schema.nsmap or {}).items()
                                    if p and p not in RESERVED_PREFIXES and u not in (SCH,)}
    nsmap.update(namespaces)
    nsmap.update({"xsl": XSL, "svrl": SVRL, "xs": XS, "sbx": OWN})

    stylesheet = etree.Element(_x("stylesheet"), nsmap=nsmap)
    stylesheet.set("version", "3.0")
    stylesheet.set("exclude-result-prefixes", "#all")
    stylesheet.set(XML_BASE, path.resolve().as_uri())
    stylesheet.append(etree.Comment(f" Compiled from {path.name} by segur_sandbox.conformance.schematron "
                                    f"(compiler {COMPILER_VERSION}); do not edit. "))

    foreign = [e for e in schema if isinstance(e.tag, str) and e.tag.startswith(f"{{{XSL}}}")]
    for element in sorted(foreign, key=lambda e: e.tag != _x("import")):
        copied = copy.deepcopy(element)
        copied.set(XML_BASE, _base_path(element, path).resolve().as_uri())
        stylesheet.append(copied)
    etree.SubElement(stylesheet, _x("output"), method="xml", indent="no", encoding="UTF-8")
    _location_functions(stylesheet, namespaces)

    default_phase = schema.get("defaultPhase")
    phases = {p.get("id"): p for p in schema.findall(_sch("phase"))}
    phase: etree._Element | None = None
    if default_phase and default_phase != "#ALL":
        phase = phases.get(default_phase)
        if phase is None:
            raise SchematronError(path, f"defaultPhase {default_phase!r}: no sch:phase with that id")

    for let in schema.findall(_sch("let")) + ([] if phase is None else phase.findall(_sch("let"))):
        _global_variable(stylesheet, let, path, backwards)

    patterns = [p for p in schema.findall(_sch("pattern"))]
    if phase is not None:
        active = [a.get("pattern") for a in phase.findall(_sch("active"))]
        by_id = {p.get("id"): p for p in patterns if p.get("id")}
        missing = [a for a in active if a not in by_id]
        if missing:
            raise SchematronError(path, f"phase {default_phase!r} activates unknown pattern(s) {', '.join(missing)}")
        patterns = [p for p in patterns if p.get("id") in set(active)]
    diagnostics = {d.get("id"): d for d in schema.iter(_sch("diagnostic")) if d.get("id")}

    root_template = etree.SubElement(stylesheet, _x("template"), match="/")
    output = etree.SubElement(root_template, f"{{{SVRL}}}schematron-output")
    title = schema.find(_sch("title"))
    if title is not None:
        output.set("title", _avt_literal(" ".join("".join(title.itertext()).split())))
    if schema.get("schemaVersion"):
        output.set("schemaVersion", _avt_literal(schema.get("schemaVersion")))
    if phase is not None:
        output.set("phase", _avt_literal(default_phase))
    for prefix, uri in namespaces.items():
        etree.SubElement(output, f"{{{SVRL}}}ns-prefix-in-attribute-values", uri=_avt_literal(uri),
                         prefix=_avt_literal(prefix))
    for index, pattern in enumerate(patterns, start=1):
        mode = f"sbx:M{index}"
        active = etree.SubElement(output, f"{{{SVRL}}}active-pattern")
        for attribute in ("id", "role"):
            if pattern.get(attribute):
                active.set(attribute, _avt_literal(pattern.get(attribute)))
        pattern_title = pattern.find(_sch("title"))
        if pattern_title is not None:
            active.set("name", _avt_literal(" ".join("".join(pattern_title.itertext()).split())))
        etree.SubElement(output, _x("apply-templates"), select="/", mode=mode)
        _pattern_templates(stylesheet, pattern, mode, path, backwards, diagnostics)
    return etree.tostring(stylesheet, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode("utf-8")


def _location_functions(stylesheet: etree._Element, namespaces: dict[str, str]) -> None:
    """``sbx:location(node)``: an XPath to the node, with the schema's prefixes (``Q{uri}`` for other namespaces)."""
    prefixes: dict[str, str] = {}
    for prefix, uri in namespaces.items():
        prefixes.setdefault(uri, prefix)
    qname = "if ($uri eq '') then local-name($n) else "
    for uri, prefix in prefixes.items():
        qname += f"if ($uri eq {_xpath_string(uri)}) then concat({_xpath_string(prefix + ':')}, local-name($n)) else "
    qname += "concat('Q{', $uri, '}', local-name($n))"
    xml = f"""<xsl:stylesheet xmlns:xsl="{XSL}" xmlns:xs="{XS}" xmlns:sbx="{OWN}">
  <xsl:function name="sbx:qname" as="xs:string">
    <xsl:param name="n" as="node()"/>
    <xsl:variable name="uri" select="namespace-uri($n)"/>
    <xsl:sequence select="{_attr_escape(qname)}"/>
  </xsl:function>
  <xsl:function name="sbx:location" as="xs:string">
    <xsl:param name="node" as="node()"/>
    <xsl:sequence select="if ($node instance of document-node()) then '/' else string-join(
      for $n in $node/ancestor-or-self::node()[not(self::document-node())] return
        if ($n instance of element()) then
          concat('/', sbx:qname($n), '[', count($n/preceding-sibling::*[node-name(.) eq node-name($n)]) + 1, ']')
        else if ($n instance of attribute()) then concat('/@', sbx:qname($n))
        else if ($n instance of text()) then concat('/text()[', count($n/preceding-sibling::text()) + 1, ']')
        else if ($n instance of comment()) then concat('/comment()[', count($n/preceding-sibling::comment()) + 1, ']')
        else concat('/processing-instruction()[', count($n/preceding-sibling::processing-instruction()) + 1, ']'),
      '')"/>
  </xsl:function>
</xsl:stylesheet>"""
    for function in etree.fromstring(xml):
        stylesheet.append(function)


def _attr_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _global_variable(stylesheet: etree._Element, let: etree._Element, path: Path, backwards: bool) -> None:
    name, value = let.get("name"), let.get("value")
    if not name or value is None:
        raise SchematronError(path, f"sch:let {name or '(no name)'} needs @name and @value")
    variable = etree.SubElement(stylesheet, _x("variable"), name=name, select=value)
    if backwards:
        variable.set("version", "1.0")


def _pattern_templates(stylesheet: etree._Element, pattern: etree._Element, mode: str, path: Path,
                       backwards: bool, diagnostics: dict[str, etree._Element]) -> None:
    rules = pattern.findall(_sch("rule"))
    pattern_lets = pattern.findall(_sch("let"))
    for position, rule in enumerate(rules):
        context = rule.get("context")
        if not context:
            raise SchematronError(path, f"a sch:rule of pattern {pattern.get('id') or '(no id)'} has no @context")
        template = etree.SubElement(stylesheet, _x("template"), match=context, mode=mode,
                                    priority=str(1000 + len(rules) - position))
        template.set(XML_BASE, _base_path(rule, path).resolve().as_uri())
        if backwards:
            template.set("version", "1.0")
        fired = etree.SubElement(template, f"{{{SVRL}}}fired-rule", context=_avt_literal(context))
        for attribute in ("id", "role", "flag"):
            if rule.get(attribute):
                fired.set(attribute, _avt_literal(rule.get(attribute)))
        for let in pattern_lets:  # evaluated on the document root, as ISO says for pattern-level variables
            name, value = let.get("name"), let.get("value")
            if not name or value is None:
                raise SchematronError(path, f"sch:let {name or '(no name)'} needs @name and @value")
            variable = etree.SubElement(template, _x("variable"), name=name, **{"as": "item()*"})
            etree.SubElement(etree.SubElement(variable, _x("for-each"), select="/"), _x("sequence"), select=value)
        for child in rule:
            if not isinstance(child.tag, str):
                continue
            if child.tag == _sch("let"):
                name, value = child.get("name"), child.get("value")
                if not name or value is None:
                    raise SchematronError(path, f"sch:let {name or '(no name)'} needs @name and @value")
                etree.SubElement(template, _x("variable"), name=name, select=value)
            elif child.tag in (_sch("assert"), _sch("report")):
                _assertion(template, child, rule, path, diagnostics)
        etree.SubElement(template, _x("apply-templates"), select="@*|node()", mode=mode)
    default = etree.SubElement(stylesheet, _x("template"), match="document-node()|@*|node()", mode=mode,
                               priority="-1000")
    etree.SubElement(default, _x("apply-templates"), select="@*|node()", mode=mode)


def _assertion(template: etree._Element, element: etree._Element, rule: etree._Element, path: Path,
               diagnostics: dict[str, etree._Element]) -> None:
    test = element.get("test")
    if not test:
        raise SchematronError(path, f"a sch:{etree.QName(element).localname} has no @test")
    is_assert = element.tag == _sch("assert")
    if is_assert:
        choose = etree.SubElement(template, _x("choose"))
        etree.SubElement(choose, _x("when"), test=test)
        parent = etree.SubElement(choose, _x("otherwise"))
        result = etree.SubElement(parent, f"{{{SVRL}}}failed-assert")
    else:
        parent = etree.SubElement(template, _x("if"), test=test)
        result = etree.SubElement(parent, f"{{{SVRL}}}successful-report")
    result.set("test", _avt_literal(test))
    for attribute in ("id", "role", "flag", "see"):
        value = element.get(attribute) or (rule.get(attribute) if attribute in ("role", "flag") else None)
        if value:
            result.set(attribute, _avt_literal(value))
    subject = element.get("subject") or rule.get("subject")
    location = f"sbx:location((({subject}), .)[1])" if subject else "sbx:location(.)"
    result.set("location", "{" + location + "}")
    for reference in (element.get("diagnostics") or "").split():
        diagnostic = diagnostics.get(reference)
        if diagnostic is None:
            raise SchematronError(path, f"diagnostics={reference!r}: no sch:diagnostic with that id")
        target = etree.SubElement(result, f"{{{SVRL}}}diagnostic-reference", diagnostic=_avt_literal(reference))
        _message(target, diagnostic)
    _message(etree.SubElement(result, f"{{{SVRL}}}text"), element)


def _message(target: etree._Element, source: etree._Element) -> None:
    """Turn the mixed content of an assert/report/diagnostic into XSLT instructions appended to ``target``."""
    def text(value: str | None) -> None:
        if value:
            etree.SubElement(target, _x("text")).text = value

    def walk(element: etree._Element) -> None:
        text(element.text)
        for child in element:
            if isinstance(child.tag, str):
                if child.tag == _sch("value-of"):
                    etree.SubElement(target, _x("value-of"), select=child.get("select") or ".")
                elif child.tag == _sch("name"):
                    etree.SubElement(target, _x("value-of"), select=f"name({child.get('path') or '.'})")
                else:  # emph, dir, span, foreign elements: their content
                    walk(child)
            text(child.tail)

    walk(source)


# ------------------------------------------------------------------------------------------------ SVRL
def _severity(kind: str, role: str | None, flag: str | None) -> Severity:
    words = {(role or "").strip().lower(), (flag or "").strip().lower()}
    if words & _ERROR_WORDS:
        return "error"
    if words & _WARNING_WORDS:
        return "warning"
    if words & _INFO_WORDS:
        return "info"
    return "error" if kind == "failed-assert" else "warning"


def _normalise(element: etree._Element | None) -> str:
    return "" if element is None else " ".join("".join(element.itertext()).split())


def parse_svrl(svrl: str | bytes, stem: str) -> list[Finding]:
    """The findings of an SVRL report: failed asserts and successful reports, ids ``SCH:<stem>:<key>``."""
    if isinstance(svrl, str):
        svrl = re.sub(r"^\s*<\?xml[^>]*\?>", "", svrl).encode("utf-8")
    parser = etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=True)
    try:
        root = etree.fromstring(svrl, parser)
    except etree.XMLSyntaxError as exc:
        raise SchematronError(None, f"the output is not XML: {exc}") from None
    if root.tag != f"{{{SVRL}}}schematron-output":
        raise SchematronError(None, f"the output is not SVRL (root element {root.tag})")
    findings = []
    pattern_index, pattern_id = 0, None
    for element in root.iter(f"{{{SVRL}}}active-pattern", f"{{{SVRL}}}failed-assert",
                             f"{{{SVRL}}}successful-report"):
        kind = etree.QName(element).localname
        if kind == "active-pattern":
            pattern_index += 1
            pattern_id = element.get("id") or None
            continue
        key = element.get("id") or pattern_id or str(max(pattern_index, 1))
        message = _normalise(element.find(f"{{{SVRL}}}text"))
        extra = [_normalise(d) for d in element.findall(f"{{{SVRL}}}diagnostic-reference")]
        message = " ".join([message or f"{'assert' if kind == 'failed-assert' else 'report'} "
                                       f"{element.get('test', '')}".strip()] + [d for d in extra if d])
        refs = (element.get("see"),) if element.get("see") else ()
        findings.append(Finding(f"SCH:{stem}:{key}", _severity(kind, element.get("role"), element.get("flag")),
                                message, element.get("location"), refs))
    return findings


# ------------------------------------------------------------------------------------------------ reports
def _no_check(artifact: Any) -> Iterable[Any]:
    return ()


def _rule(rule_id: str, title: str) -> Rule:
    return Rule(rule_id, title, "error", "schematron", (CdaDocument,), _no_check)


def apply(reports: Sequence[Report], bundles: Sequence[Bundle]) -> list[str]:
    """Run every bundle on the CDA documents of each report (the artifact itself or the documents an ITI-41 carries)
    and merge the findings; each stylesheet counts as an applied rule ``SCH:<stem>`` and each finding id as one
    too (for the JUnit rendering). Returns notes on the inputs that were skipped (no CDA document in them).

    Raises ``SchematronError`` when a stylesheet fails at run time.
    """
    notes: list[str] = []
    schematrons = [s for b in bundles for s in b.schematrons]
    for report in reports:
        documents = [(a, prefix) for a, prefix in _walk(report.artifact, "") if isinstance(a, CdaDocument)]
        if not documents:
            notes.append(f"{report.artifact.name} ({report.artifact.kind}): schematron bundles not run, they apply "
                         "to CDA documents only")
            continue
        applied = {r.id for r in report.applied}
        for schematron in schematrons:
            bundle_rule = f"SCH:{schematron.stem}"
            if bundle_rule not in applied:
                applied.add(bundle_rule)
                report.applied.append(_rule(bundle_rule, f"ISO schematron {schematron.source}"))
            for document, prefix in documents:
                for found in schematron.run(document):
                    if prefix:
                        found = Finding(found.rule_id, found.severity, found.message,
                                        prefix + (found.location or ""), found.refs)
                    if found.rule_id not in applied:
                        applied.add(found.rule_id)
                        report.applied.append(_rule(found.rule_id, f"schematron {schematron.source.name}"))
                    report.findings.append(found)
    return notes
