<?xml version="1.0" encoding="UTF-8"?>
<!-- A schematron already compiled to SVRL-producing XSLT 2.0, shaped like the ISO skeleton's output (flat SVRL,
     skeleton-style locations), written by hand for the tests of pre-compiled bundles. Its source would be:
       <pattern id="realm"><rule context="cda:ClinicalDocument">
         <assert test="cda:realmCode/@code = 'FR'">realmCode/@code doit valoir FR.</assert>
         <report role="info" id="has-set-id" test="cda:setId">Le document a un setId.</report></rule></pattern> -->
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:svrl="http://purl.oclc.org/dsdl/svrl" xmlns:cda="urn:hl7-org:v3"
                exclude-result-prefixes="cda">
  <xsl:output method="xml" indent="yes" encoding="UTF-8"/>

  <xsl:template match="/">
    <svrl:schematron-output title="realm" schemaVersion="">
      <svrl:ns-prefix-in-attribute-values uri="urn:hl7-org:v3" prefix="cda"/>
      <svrl:active-pattern id="realm" name="realm"/>
      <xsl:apply-templates select="/" mode="M1"/>
    </svrl:schematron-output>
  </xsl:template>

  <xsl:template match="cda:ClinicalDocument" priority="1000" mode="M1">
    <svrl:fired-rule context="cda:ClinicalDocument"/>
    <xsl:choose>
      <xsl:when test="cda:realmCode/@code = 'FR'"/>
      <xsl:otherwise>
        <svrl:failed-assert test="cda:realmCode/@code = 'FR'">
          <xsl:attribute name="location">
            <xsl:for-each select="ancestor-or-self::*">
              <xsl:value-of select="concat('/*:', local-name(), '[namespace-uri()=''', namespace-uri(), '''][1]')"/>
            </xsl:for-each>
          </xsl:attribute>
          <svrl:text>realmCode/@code doit valoir FR.</svrl:text>
        </svrl:failed-assert>
      </xsl:otherwise>
    </xsl:choose>
    <xsl:if test="cda:setId">
      <svrl:successful-report test="cda:setId" id="has-set-id" role="info" location="/">
        <svrl:text>Le document a un setId.</svrl:text>
      </svrl:successful-report>
    </xsl:if>
    <xsl:apply-templates select="*" mode="M1"/>
  </xsl:template>
  <xsl:template match="text()" priority="-1" mode="M1"/>
  <xsl:template match="@*|node()" priority="-2" mode="M1">
    <xsl:apply-templates select="*" mode="M1"/>
  </xsl:template>
</xsl:stylesheet>
